"""etcd v3's gRPC API (the part the etcd scenario uses); reached through ``aranya_perf.etcd.api``."""
