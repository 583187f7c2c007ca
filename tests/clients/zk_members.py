"""Lists the members of a ZooKeeper group with kazoo (the client pymesos and the Mesos CLI use)
and prints them as JSON: [{"name": …, "data": <the node's JSON>}, …], plus what pymesos would
pick (the string-smallest child but log_replicas). Usage: zk_members.py <host:port,…> <path>"""
import json
import sys

from kazoo.client import KazooClient

hosts, path = sys.argv[1], sys.argv[2]
zk = KazooClient(hosts=hosts)
zk.start(timeout=20)
children = zk.get_children(path)
members = []
for c in sorted(children):
    data, _ = zk.get(f"{path}/{c}")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except Exception:
        parsed = None
    members.append(dict(name=c, data=parsed))
candidates = [c for c in children if c != "log_replicas"]
print(json.dumps(dict(children=sorted(children), members=members,
                      pymesos_choice=min(candidates) if candidates else None)))
zk.stop()
