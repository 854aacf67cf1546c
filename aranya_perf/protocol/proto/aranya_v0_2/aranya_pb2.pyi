from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CmdType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CMD_DATA_UPSTREAM: _ClassVar[CmdType]
    CMD_SESSION_CLOSE: _ClassVar[CmdType]
    CMD_REJECT: _ClassVar[CmdType]
    CMD_NET: _ClassVar[CmdType]
    CMD_RUNTIME: _ClassVar[CmdType]
    CMD_NODE_INFO_GET: _ClassVar[CmdType]
    CMD_EXEC: _ClassVar[CmdType]
    CMD_ATTACH: _ClassVar[CmdType]
    CMD_LOGS: _ClassVar[CmdType]
    CMD_TTY_RESIZE: _ClassVar[CmdType]
    CMD_PORT_FORWARD: _ClassVar[CmdType]
    CMD_METRICS_CONFIG: _ClassVar[CmdType]
    CMD_METRICS_COLLECT: _ClassVar[CmdType]
    CMD_CRED_ENSURE: _ClassVar[CmdType]
    CMD_STORAGE_LIST: _ClassVar[CmdType]
    CMD_STORAGE_ENSURE: _ClassVar[CmdType]
    CMD_STORAGE_DELETE: _ClassVar[CmdType]
    CMD_PERIPHERAL_LIST: _ClassVar[CmdType]
    CMD_PERIPHERAL_ENSURE: _ClassVar[CmdType]
    CMD_PERIPHERAL_DELETE: _ClassVar[CmdType]
    CMD_PERIPHERAL_OPERATE: _ClassVar[CmdType]
    CMD_PERIPHERAL_COLLECT_METRICS: _ClassVar[CmdType]

class MsgType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MSG_DATA: _ClassVar[MsgType]
    MSG_DATA_DEFAULT: _ClassVar[MsgType]
    MSG_DATA_STDOUT: _ClassVar[MsgType]
    MSG_DATA_METRICS: _ClassVar[MsgType]
    MSG_DATA_STDERR: _ClassVar[MsgType]
    MSG_DONE: _ClassVar[MsgType]
    MSG_STATE: _ClassVar[MsgType]
    MSG_ERROR: _ClassVar[MsgType]
    MSG_NET: _ClassVar[MsgType]
    MSG_RUNTIME: _ClassVar[MsgType]
    MSG_NODE_STATUS: _ClassVar[MsgType]
    MSG_CRED_STATUS: _ClassVar[MsgType]
    MSG_STORAGE_STATUS: _ClassVar[MsgType]
    MSG_STORAGE_STATUS_LIST: _ClassVar[MsgType]
    MSG_PERIPHERAL_STATUS: _ClassVar[MsgType]
    MSG_PERIPHERAL_STATUS_LIST: _ClassVar[MsgType]
    MSG_PERIPHERAL_OPERATION_RESULT: _ClassVar[MsgType]

class RejectionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    _INVALID_REJECTION_REASON: _ClassVar[RejectionReason]
    REJECTION_INVALID_PROTO: _ClassVar[RejectionReason]
    REJECTION_ALREADY_CONNECTED: _ClassVar[RejectionReason]
    REJECTION_INITIAL_CHECK_FAILURE: _ClassVar[RejectionReason]
    REJECTION_INTERNAL_SERVER_ERROR: _ClassVar[RejectionReason]

class NodeCondition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_CONDITION_UNKNOWN: _ClassVar[NodeCondition]
    NODE_CONDITION_HEALTHY: _ClassVar[NodeCondition]
    NODE_CONDITION_UNHEALTHY: _ClassVar[NodeCondition]

class MetricsTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRICS_TARGET_NODE: _ClassVar[MetricsTarget]
    METRICS_TARGET_CONTAINER: _ClassVar[MetricsTarget]
CMD_DATA_UPSTREAM: CmdType
CMD_SESSION_CLOSE: CmdType
CMD_REJECT: CmdType
CMD_NET: CmdType
CMD_RUNTIME: CmdType
CMD_NODE_INFO_GET: CmdType
CMD_EXEC: CmdType
CMD_ATTACH: CmdType
CMD_LOGS: CmdType
CMD_TTY_RESIZE: CmdType
CMD_PORT_FORWARD: CmdType
CMD_METRICS_CONFIG: CmdType
CMD_METRICS_COLLECT: CmdType
CMD_CRED_ENSURE: CmdType
CMD_STORAGE_LIST: CmdType
CMD_STORAGE_ENSURE: CmdType
CMD_STORAGE_DELETE: CmdType
CMD_PERIPHERAL_LIST: CmdType
CMD_PERIPHERAL_ENSURE: CmdType
CMD_PERIPHERAL_DELETE: CmdType
CMD_PERIPHERAL_OPERATE: CmdType
CMD_PERIPHERAL_COLLECT_METRICS: CmdType
MSG_DATA: MsgType
MSG_DATA_DEFAULT: MsgType
MSG_DATA_STDOUT: MsgType
MSG_DATA_METRICS: MsgType
MSG_DATA_STDERR: MsgType
MSG_DONE: MsgType
MSG_STATE: MsgType
MSG_ERROR: MsgType
MSG_NET: MsgType
MSG_RUNTIME: MsgType
MSG_NODE_STATUS: MsgType
MSG_CRED_STATUS: MsgType
MSG_STORAGE_STATUS: MsgType
MSG_STORAGE_STATUS_LIST: MsgType
MSG_PERIPHERAL_STATUS: MsgType
MSG_PERIPHERAL_STATUS_LIST: MsgType
MSG_PERIPHERAL_OPERATION_RESULT: MsgType
_INVALID_REJECTION_REASON: RejectionReason
REJECTION_INVALID_PROTO: RejectionReason
REJECTION_ALREADY_CONNECTED: RejectionReason
REJECTION_INITIAL_CHECK_FAILURE: RejectionReason
REJECTION_INTERNAL_SERVER_ERROR: RejectionReason
NODE_CONDITION_UNKNOWN: NodeCondition
NODE_CONDITION_HEALTHY: NodeCondition
NODE_CONDITION_UNHEALTHY: NodeCondition
METRICS_TARGET_NODE: MetricsTarget
METRICS_TARGET_CONTAINER: MetricsTarget

class Cmd(_message.Message):
    __slots__ = ("kind", "sid", "seq", "completed", "payload")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    kind: CmdType
    sid: int
    seq: int
    completed: bool
    payload: bytes
    def __init__(self, kind: _Optional[_Union[CmdType, str]] = ..., sid: _Optional[int] = ..., seq: _Optional[int] = ..., completed: _Optional[bool] = ..., payload: _Optional[bytes] = ...) -> None: ...

class Msg(_message.Message):
    __slots__ = ("kind", "sid", "seq", "completed", "payload")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    kind: MsgType
    sid: int
    seq: int
    completed: bool
    payload: bytes
    def __init__(self, kind: _Optional[_Union[MsgType, str]] = ..., sid: _Optional[int] = ..., seq: _Optional[int] = ..., completed: _Optional[bool] = ..., payload: _Optional[bytes] = ...) -> None: ...

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

class SessionCloseCmd(_message.Message):
    __slots__ = ("sid",)
    SID_FIELD_NUMBER: _ClassVar[int]
    sid: int
    def __init__(self, sid: _Optional[int] = ...) -> None: ...

class RejectCmd(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: RejectionReason
    message: str
    def __init__(self, reason: _Optional[_Union[RejectionReason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class LogsCmd(_message.Message):
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
    since: str
    tail_lines: int
    bytes_limit: int
    previous: bool
    path: str
    def __init__(self, pod_uid: _Optional[str] = ..., container: _Optional[str] = ..., follow: _Optional[bool] = ..., timestamp: _Optional[bool] = ..., since: _Optional[str] = ..., tail_lines: _Optional[int] = ..., bytes_limit: _Optional[int] = ..., previous: _Optional[bool] = ..., path: _Optional[str] = ...) -> None: ...

class ExecOrAttachCmd(_message.Message):
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

class TerminalResizeCmd(_message.Message):
    __slots__ = ("cols", "rows")
    COLS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    cols: int
    rows: int
    def __init__(self, cols: _Optional[int] = ..., rows: _Optional[int] = ...) -> None: ...

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

class NodeResources(_message.Message):
    __slots__ = ("cpu_count", "memory_bytes", "storage_bytes")
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    cpu_count: int
    memory_bytes: int
    storage_bytes: int
    def __init__(self, cpu_count: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., storage_bytes: _Optional[int] = ...) -> None: ...

class NodeConditions(_message.Message):
    __slots__ = ("ready", "memory", "disk", "pid", "network", "pod")
    READY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    DISK_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    ready: NodeCondition
    memory: NodeCondition
    disk: NodeCondition
    pid: NodeCondition
    network: NodeCondition
    pod: NodeCondition
    def __init__(self, ready: _Optional[_Union[NodeCondition, str]] = ..., memory: _Optional[_Union[NodeCondition, str]] = ..., disk: _Optional[_Union[NodeCondition, str]] = ..., pid: _Optional[_Union[NodeCondition, str]] = ..., network: _Optional[_Union[NodeCondition, str]] = ..., pod: _Optional[_Union[NodeCondition, str]] = ...) -> None: ...

class NodeStatusMsg(_message.Message):
    __slots__ = ("system_info", "capacity", "conditions", "ext_info")
    SYSTEM_INFO_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    EXT_INFO_FIELD_NUMBER: _ClassVar[int]
    system_info: NodeSystemInfo
    capacity: NodeResources
    conditions: NodeConditions
    ext_info: _containers.RepeatedCompositeFieldContainer[NodeExtInfo]
    def __init__(self, system_info: _Optional[_Union[NodeSystemInfo, _Mapping]] = ..., capacity: _Optional[_Union[NodeResources, _Mapping]] = ..., conditions: _Optional[_Union[NodeConditions, _Mapping]] = ..., ext_info: _Optional[_Iterable[_Union[NodeExtInfo, _Mapping]]] = ...) -> None: ...

class PortForwardCmd(_message.Message):
    __slots__ = ("pod_uid", "port", "protocol")
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    pod_uid: str
    port: int
    protocol: str
    def __init__(self, pod_uid: _Optional[str] = ..., port: _Optional[int] = ..., protocol: _Optional[str] = ...) -> None: ...

class MetricsConfigCmd(_message.Message):
    __slots__ = ("target", "collect", "extra_args")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    COLLECT_FIELD_NUMBER: _ClassVar[int]
    EXTRA_ARGS_FIELD_NUMBER: _ClassVar[int]
    target: MetricsTarget
    collect: _containers.RepeatedScalarFieldContainer[str]
    extra_args: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, target: _Optional[_Union[MetricsTarget, str]] = ..., collect: _Optional[_Iterable[str]] = ..., extra_args: _Optional[_Iterable[str]] = ...) -> None: ...

class MetricsCollectCmd(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: MetricsTarget
    def __init__(self, target: _Optional[_Union[MetricsTarget, str]] = ...) -> None: ...

class NodeSystemInfo(_message.Message):
    __slots__ = ("os", "os_image", "arch", "kernel_version", "boot_id", "machine_id", "system_uuid")
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    MACHINE_ID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_UUID_FIELD_NUMBER: _ClassVar[int]
    os: str
    os_image: str
    arch: str
    kernel_version: str
    boot_id: str
    machine_id: str
    system_uuid: str
    def __init__(self, os: _Optional[str] = ..., os_image: _Optional[str] = ..., arch: _Optional[str] = ..., kernel_version: _Optional[str] = ..., boot_id: _Optional[str] = ..., machine_id: _Optional[str] = ..., system_uuid: _Optional[str] = ...) -> None: ...

class NodeExtInfo(_message.Message):
    __slots__ = ("value", "value_type", "operator", "target", "target_key")
    class ValueType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NODE_EXT_INFO_TYPE_STRING: _ClassVar[NodeExtInfo.ValueType]
        NODE_EXT_INFO_TYPE_INTEGER: _ClassVar[NodeExtInfo.ValueType]
        NODE_EXT_INFO_TYPE_FLOAT: _ClassVar[NodeExtInfo.ValueType]
    NODE_EXT_INFO_TYPE_STRING: NodeExtInfo.ValueType
    NODE_EXT_INFO_TYPE_INTEGER: NodeExtInfo.ValueType
    NODE_EXT_INFO_TYPE_FLOAT: NodeExtInfo.ValueType
    class Operator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NODE_EXT_INFO_OPERATOR_SET: _ClassVar[NodeExtInfo.Operator]
        NODE_EXT_INFO_OPERATOR_ADD: _ClassVar[NodeExtInfo.Operator]
        NODE_EXT_INFO_OPERATOR_MINUS: _ClassVar[NodeExtInfo.Operator]
    NODE_EXT_INFO_OPERATOR_SET: NodeExtInfo.Operator
    NODE_EXT_INFO_OPERATOR_ADD: NodeExtInfo.Operator
    NODE_EXT_INFO_OPERATOR_MINUS: NodeExtInfo.Operator
    class Target(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NODE_EXT_INFO_TARGET_ANNOTATION: _ClassVar[NodeExtInfo.Target]
        NODE_EXT_INFO_TARGET_LABEL: _ClassVar[NodeExtInfo.Target]
    NODE_EXT_INFO_TARGET_ANNOTATION: NodeExtInfo.Target
    NODE_EXT_INFO_TARGET_LABEL: NodeExtInfo.Target
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_KEY_FIELD_NUMBER: _ClassVar[int]
    value: str
    value_type: NodeExtInfo.ValueType
    operator: NodeExtInfo.Operator
    target: NodeExtInfo.Target
    target_key: str
    def __init__(self, value: _Optional[str] = ..., value_type: _Optional[_Union[NodeExtInfo.ValueType, str]] = ..., operator: _Optional[_Union[NodeExtInfo.Operator, str]] = ..., target: _Optional[_Union[NodeExtInfo.Target, str]] = ..., target_key: _Optional[str] = ...) -> None: ...
