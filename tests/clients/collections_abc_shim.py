# Installed by setup.sh into the mesos and dcos venvs, and imported by a .pth file there whenever
# their python starts: marathon-python 0.13 and dcos 0.6.1 use collections.Mapping & co., which
# Python 3.10 removed (they live in collections.abc). This puts the names back before any client
# is imported.
import collections
import collections.abc

for _n in ("Mapping", "MutableMapping", "Sequence", "Iterable", "Callable"):
    if not hasattr(collections, _n):
        setattr(collections, _n, getattr(collections.abc, _n))
