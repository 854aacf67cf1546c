"""Generated code of one protocol version; import it only through aranya_perf.protocol."""
