"""Transports that carry the device protocol's frames between devices and a controller.

``grpc_sync``: the ``Sync(stream Msg) returns (stream Cmd)`` RPC of every version.
"""
