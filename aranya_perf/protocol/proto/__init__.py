"""The .proto files of every protocol version and the control service, with their generated modules.

Nothing outside ``aranya_perf.protocol`` imports from here: the version modules reach
the code through ``aranya_perf.protocol.versions`` and ``aranya_perf.protocol.control``.
"""
