"""etcd as a load target: a local cluster on loopback (``cluster``), etcd's gRPC API (``api``) and
``etcdctl check perf`` beside our own load (``checkperf``).

Free of Locust and gevent, like the rest of the core; ``loadtests`` builds the etcd scenario's users
on top of it.
"""
