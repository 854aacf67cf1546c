"""The .proto files of every protocol version, the control service and etcd's API; their generated code.

Nothing outside ``aranya_perf.protocol`` imports from here except ``aranya_perf.etcd.api``: the
version modules reach the code through ``aranya_perf.protocol.versions`` and
``aranya_perf.protocol.control``, the etcd scenario through ``aranya_perf.etcd.api``.
"""
