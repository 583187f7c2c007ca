//! DNS discovery of tasks as mesos-dns names them.
