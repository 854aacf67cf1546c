from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ExecRequest(_message.Message):
    __slots__ = ("device_id", "pod_uid", "container", "command", "envs", "timeout_ms")
    class EnvsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENVS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    pod_uid: str
    container: str
    command: _containers.RepeatedScalarFieldContainer[str]
    envs: _containers.ScalarMap[str, str]
    timeout_ms: int
    def __init__(self, device_id: _Optional[str] = ..., pod_uid: _Optional[str] = ..., container: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., envs: _Optional[_Mapping[str, str]] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ExecResponse(_message.Message):
    __slots__ = ("stdout", "stderr", "exit_code", "sid")
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    stdout: bytes
    stderr: bytes
    exit_code: int
    sid: int
    def __init__(self, stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., exit_code: _Optional[int] = ..., sid: _Optional[int] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("device_id", "pod_uid", "container", "tail_lines", "follow", "timeout_ms")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    pod_uid: str
    container: str
    tail_lines: int
    follow: bool
    timeout_ms: int
    def __init__(self, device_id: _Optional[str] = ..., pod_uid: _Optional[str] = ..., container: _Optional[str] = ..., tail_lines: _Optional[int] = ..., follow: _Optional[bool] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class LogChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class PortForwardFrame(_message.Message):
    __slots__ = ("device_id", "pod_uid", "port", "data", "timeout_ms")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    pod_uid: str
    port: int
    data: bytes
    timeout_ms: int
    def __init__(self, device_id: _Optional[str] = ..., pod_uid: _Optional[str] = ..., port: _Optional[int] = ..., data: _Optional[bytes] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ListDevicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("device_ids", "protocol")
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    protocol: str
    def __init__(self, device_ids: _Optional[_Iterable[str]] = ..., protocol: _Optional[str] = ...) -> None: ...

class CollectMetricsRequest(_message.Message):
    __slots__ = ("device_id", "timeout_ms")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    timeout_ms: int
    def __init__(self, device_id: _Optional[str] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("timeout_ms",)
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    timeout_ms: int
    def __init__(self, timeout_ms: _Optional[int] = ...) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("sessions_open",)
    SESSIONS_OPEN_FIELD_NUMBER: _ClassVar[int]
    sessions_open: int
    def __init__(self, sessions_open: _Optional[int] = ...) -> None: ...

class CollectMetricsResponse(_message.Message):
    __slots__ = ("data", "sid")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    sid: int
    def __init__(self, data: _Optional[bytes] = ..., sid: _Optional[int] = ...) -> None: ...
