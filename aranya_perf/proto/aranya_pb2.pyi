from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMPTY: _ClassVar[Kind]
    MSG_DATA_DEFAULT: _ClassVar[Kind]
    MSG_DATA_STDOUT: _ClassVar[Kind]
    MSG_DATA_METRICS: _ClassVar[Kind]
    MSG_DATA_STDERR: _ClassVar[Kind]
    CMD_DATA_UPSTREAM: _ClassVar[Kind]
    CMD_REJECT: _ClassVar[Kind]
    CMD_SESSION_CLOSE: _ClassVar[Kind]
    CMD_POD_CTR_EXEC: _ClassVar[Kind]
    CMD_POD_CTR_ATTACH: _ClassVar[Kind]
    CMD_POD_CTR_LOGS: _ClassVar[Kind]
    CMD_POD_CTR_TTY_RESIZE: _ClassVar[Kind]
    CMD_POD_PORT_FORWARD: _ClassVar[Kind]
    CMD_NODE_INFO_GET: _ClassVar[Kind]
    CMD_METRICS_CONFIG: _ClassVar[Kind]
    CMD_METRICS_COLLECT: _ClassVar[Kind]
    CMD_CRED_ENSURE: _ClassVar[Kind]
    CMD_IMAGE_LIST: _ClassVar[Kind]
    CMD_IMAGE_ENSURE: _ClassVar[Kind]
    CMD_IMAGE_DELETE: _ClassVar[Kind]
    CMD_STORAGE_LIST: _ClassVar[Kind]
    CMD_STORAGE_ENSURE: _ClassVar[Kind]
    CMD_STORAGE_DELETE: _ClassVar[Kind]
    CMD_POD_LIST: _ClassVar[Kind]
    CMD_POD_ENSURE: _ClassVar[Kind]
    CMD_POD_DELETE: _ClassVar[Kind]
    CMD_DEVICE_LIST: _ClassVar[Kind]
    CMD_DEVICE_ENSURE: _ClassVar[Kind]
    CMD_DEVICE_DELETE: _ClassVar[Kind]
    CMD_DEVICE_OPERATE: _ClassVar[Kind]
    CMD_DEVICE_METRICS_COLLECT: _ClassVar[Kind]
    CMD_CTR_NET_LIST: _ClassVar[Kind]
    CMD_CTR_NET_ENSURE: _ClassVar[Kind]
    CMD_CTR_NET_DELETE: _ClassVar[Kind]
    MSG_DONE: _ClassVar[Kind]
    MSG_STATE: _ClassVar[Kind]
    MSG_ERROR: _ClassVar[Kind]
    MSG_NODE_STATUS: _ClassVar[Kind]
    MSG_CRED_STATUS: _ClassVar[Kind]
    MSG_IMAGE_STATUS: _ClassVar[Kind]
    MSG_IMAGE_STATUS_LIST: _ClassVar[Kind]
    MSG_STORAGE_STATUS: _ClassVar[Kind]
    MSG_STORAGE_STATUS_LIST: _ClassVar[Kind]
    MSG_POD_STATUS: _ClassVar[Kind]
    MSG_POD_STATUS_LIST: _ClassVar[Kind]
    MSG_DEVICE_STATUS: _ClassVar[Kind]
    MSG_DEVICE_STATUS_LIST: _ClassVar[Kind]
    MSG_DEVICE_OPERATION_RESULT: _ClassVar[Kind]
    MSG_CTR_NET_STATUS: _ClassVar[Kind]
    MSG_CTR_NET_STATUS_LIST: _ClassVar[Kind]
EMPTY: Kind
MSG_DATA_DEFAULT: Kind
MSG_DATA_STDOUT: Kind
MSG_DATA_METRICS: Kind
MSG_DATA_STDERR: Kind
CMD_DATA_UPSTREAM: Kind
CMD_REJECT: Kind
CMD_SESSION_CLOSE: Kind
CMD_POD_CTR_EXEC: Kind
CMD_POD_CTR_ATTACH: Kind
CMD_POD_CTR_LOGS: Kind
CMD_POD_CTR_TTY_RESIZE: Kind
CMD_POD_PORT_FORWARD: Kind
CMD_NODE_INFO_GET: Kind
CMD_METRICS_CONFIG: Kind
CMD_METRICS_COLLECT: Kind
CMD_CRED_ENSURE: Kind
CMD_IMAGE_LIST: Kind
CMD_IMAGE_ENSURE: Kind
CMD_IMAGE_DELETE: Kind
CMD_STORAGE_LIST: Kind
CMD_STORAGE_ENSURE: Kind
CMD_STORAGE_DELETE: Kind
CMD_POD_LIST: Kind
CMD_POD_ENSURE: Kind
CMD_POD_DELETE: Kind
CMD_DEVICE_LIST: Kind
CMD_DEVICE_ENSURE: Kind
CMD_DEVICE_DELETE: Kind
CMD_DEVICE_OPERATE: Kind
CMD_DEVICE_METRICS_COLLECT: Kind
CMD_CTR_NET_LIST: Kind
CMD_CTR_NET_ENSURE: Kind
CMD_CTR_NET_DELETE: Kind
MSG_DONE: Kind
MSG_STATE: Kind
MSG_ERROR: Kind
MSG_NODE_STATUS: Kind
MSG_CRED_STATUS: Kind
MSG_IMAGE_STATUS: Kind
MSG_IMAGE_STATUS_LIST: Kind
MSG_STORAGE_STATUS: Kind
MSG_STORAGE_STATUS_LIST: Kind
MSG_POD_STATUS: Kind
MSG_POD_STATUS_LIST: Kind
MSG_DEVICE_STATUS: Kind
MSG_DEVICE_STATUS_LIST: Kind
MSG_DEVICE_OPERATION_RESULT: Kind
MSG_CTR_NET_STATUS: Kind
MSG_CTR_NET_STATUS_LIST: Kind

class Header(_message.Message):
    __slots__ = ("kind", "sid", "seq", "completed")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    kind: Kind
    sid: int
    seq: int
    completed: bool
    def __init__(self, kind: _Optional[_Union[Kind, str]] = ..., sid: _Optional[int] = ..., seq: _Optional[int] = ..., completed: _Optional[bool] = ...) -> None: ...

class Cmd(_message.Message):
    __slots__ = ("header", "body")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    header: Header
    body: bytes
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., body: _Optional[bytes] = ...) -> None: ...

class Msg(_message.Message):
    __slots__ = ("header", "body")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    header: Header
    body: bytes
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., body: _Optional[bytes] = ...) -> None: ...

class StateMsg(_message.Message):
    __slots__ = ("kind", "device_id")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        _INVALID_STATE: _ClassVar[StateMsg.Kind]
        STATE_ONLINE: _ClassVar[StateMsg.Kind]
        STATE_OFFLINE: _ClassVar[StateMsg.Kind]
    _INVALID_STATE: StateMsg.Kind
    STATE_ONLINE: StateMsg.Kind
    STATE_OFFLINE: StateMsg.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    kind: StateMsg.Kind
    device_id: str
    def __init__(self, kind: _Optional[_Union[StateMsg.Kind, str]] = ..., device_id: _Optional[str] = ...) -> None: ...

class ErrorMsg(_message.Message):
    __slots__ = ("kind", "description", "code")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ERR_COMMON: _ClassVar[ErrorMsg.Kind]
        ERR_NOT_FOUND: _ClassVar[ErrorMsg.Kind]
        ERR_ALREADY_EXISTS: _ClassVar[ErrorMsg.Kind]
        ERR_NOT_SUPPORTED: _ClassVar[ErrorMsg.Kind]
        ERR_TIMEOUT: _ClassVar[ErrorMsg.Kind]
    ERR_COMMON: ErrorMsg.Kind
    ERR_NOT_FOUND: ErrorMsg.Kind
    ERR_ALREADY_EXISTS: ErrorMsg.Kind
    ERR_NOT_SUPPORTED: ErrorMsg.Kind
    ERR_TIMEOUT: ErrorMsg.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    kind: ErrorMsg.Kind
    description: str
    code: int
    def __init__(self, kind: _Optional[_Union[ErrorMsg.Kind, str]] = ..., description: _Optional[str] = ..., code: _Optional[int] = ...) -> None: ...

class RejectCmd(_message.Message):
    __slots__ = ("reason", "message")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        _INVALID_REJECTION_REASON: _ClassVar[RejectCmd.Reason]
        REJECTION_ALREADY_CONNECTED: _ClassVar[RejectCmd.Reason]
        REJECTION_POD_STATUS_SYNC_ERROR: _ClassVar[RejectCmd.Reason]
        REJECTION_INTERNAL_SERVER_ERROR: _ClassVar[RejectCmd.Reason]
        REJECTION_CREDENTIAL_FAILURE: _ClassVar[RejectCmd.Reason]
        REJECTION_NETWORK_UPDATE_FAILURE: _ClassVar[RejectCmd.Reason]
        REJECTION_STORAGE_UPDATE_FAILURE: _ClassVar[RejectCmd.Reason]
        REJECTION_INVALID_PROTO: _ClassVar[RejectCmd.Reason]
    _INVALID_REJECTION_REASON: RejectCmd.Reason
    REJECTION_ALREADY_CONNECTED: RejectCmd.Reason
    REJECTION_POD_STATUS_SYNC_ERROR: RejectCmd.Reason
    REJECTION_INTERNAL_SERVER_ERROR: RejectCmd.Reason
    REJECTION_CREDENTIAL_FAILURE: RejectCmd.Reason
    REJECTION_NETWORK_UPDATE_FAILURE: RejectCmd.Reason
    REJECTION_STORAGE_UPDATE_FAILURE: RejectCmd.Reason
    REJECTION_INVALID_PROTO: RejectCmd.Reason
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: RejectCmd.Reason
    message: str
    def __init__(self, reason: _Optional[_Union[RejectCmd.Reason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class SessionCloseCmd(_message.Message):
    __slots__ = ("sid",)
    SID_FIELD_NUMBER: _ClassVar[int]
    sid: int
    def __init__(self, sid: _Optional[int] = ...) -> None: ...

class NodeInfoGetCmd(_message.Message):
    __slots__ = ("kind",)
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NODE_INFO_DYN: _ClassVar[NodeInfoGetCmd.Kind]
        NODE_INFO_ALL: _ClassVar[NodeInfoGetCmd.Kind]
    NODE_INFO_DYN: NodeInfoGetCmd.Kind
    NODE_INFO_ALL: NodeInfoGetCmd.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: NodeInfoGetCmd.Kind
    def __init__(self, kind: _Optional[_Union[NodeInfoGetCmd.Kind, str]] = ...) -> None: ...

class ContainerExecOrAttachCmd(_message.Message):
    __slots__ = ("pod_uid", "container", "stdin", "stdout", "stderr", "tty", "command", "envs")
    class EnvsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENVS_FIELD_NUMBER: _ClassVar[int]
    pod_uid: str
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    command: _containers.RepeatedScalarFieldContainer[str]
    envs: _containers.ScalarMap[str, str]
    def __init__(self, pod_uid: _Optional[str] = ..., container: _Optional[str] = ..., stdin: _Optional[bool] = ..., stdout: _Optional[bool] = ..., stderr: _Optional[bool] = ..., tty: _Optional[bool] = ..., command: _Optional[_Iterable[str]] = ..., envs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ContainerLogsCmd(_message.Message):
    __slots__ = ("pod_uid", "container", "follow", "timestamp", "since", "tail_lines", "bytes_limit", "previous", "path")
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    BYTES_LIMIT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    pod_uid: str
    container: str
    follow: bool
    timestamp: bool
    since: int
    tail_lines: int
    bytes_limit: int
    previous: bool
    path: str
    def __init__(self, pod_uid: _Optional[str] = ..., container: _Optional[str] = ..., follow: _Optional[bool] = ..., timestamp: _Optional[bool] = ..., since: _Optional[int] = ..., tail_lines: _Optional[int] = ..., bytes_limit: _Optional[int] = ..., previous: _Optional[bool] = ..., path: _Optional[str] = ...) -> None: ...

class PodPortForwardCmd(_message.Message):
    __slots__ = ("pod_uid", "port", "protocol")
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    pod_uid: str
    port: int
    protocol: str
    def __init__(self, pod_uid: _Optional[str] = ..., port: _Optional[int] = ..., protocol: _Optional[str] = ...) -> None: ...
