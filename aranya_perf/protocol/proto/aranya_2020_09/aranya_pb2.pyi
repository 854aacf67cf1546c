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
    CMD_CTR_NET_LIST: _ClassVar[Kind]
    CMD_CTR_NET_ENSURE: _ClassVar[Kind]
    CMD_NET_LIST: _ClassVar[Kind]
    CMD_NET_ENSURE: _ClassVar[Kind]
    CMD_NET_DELETE: _ClassVar[Kind]
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
    MSG_CTR_NET_STATUS: _ClassVar[Kind]
    MSG_CTR_NET_STATUS_LIST: _ClassVar[Kind]
    MSG_NET_STATUS: _ClassVar[Kind]
    MSG_NET_STATUS_LIST: _ClassVar[Kind]

class MetricsTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRICS_TARGET_NODE: _ClassVar[MetricsTarget]
    METRICS_TARGET_CONTAINER: _ClassVar[MetricsTarget]
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
CMD_CTR_NET_LIST: Kind
CMD_CTR_NET_ENSURE: Kind
CMD_NET_LIST: Kind
CMD_NET_ENSURE: Kind
CMD_NET_DELETE: Kind
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
MSG_CTR_NET_STATUS: Kind
MSG_CTR_NET_STATUS_LIST: Kind
MSG_NET_STATUS: Kind
MSG_NET_STATUS_LIST: Kind
METRICS_TARGET_NODE: MetricsTarget
METRICS_TARGET_CONTAINER: MetricsTarget

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
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        _INVALID_REJECTION_REASON: _ClassVar[RejectCmd.Reason]
        REJECTION_ALREADY_CONNECTED: _ClassVar[RejectCmd.Reason]
        REJECTION_POD_STATUS_SYNC_ERROR: _ClassVar[RejectCmd.Reason]
        REJECTION_NODE_STATUS_SYNC_ERROR: _ClassVar[RejectCmd.Reason]
        REJECTION_NETWORK_UPDATE_FAILURE: _ClassVar[RejectCmd.Reason]
        REJECTION_CREDENTIAL_FAILURE: _ClassVar[RejectCmd.Reason]
        REJECTION_INTERNAL_SERVER_ERROR: _ClassVar[RejectCmd.Reason]
        REJECTION_INVALID_PROTO: _ClassVar[RejectCmd.Reason]
    _INVALID_REJECTION_REASON: RejectCmd.Reason
    REJECTION_ALREADY_CONNECTED: RejectCmd.Reason
    REJECTION_POD_STATUS_SYNC_ERROR: RejectCmd.Reason
    REJECTION_NODE_STATUS_SYNC_ERROR: RejectCmd.Reason
    REJECTION_NETWORK_UPDATE_FAILURE: RejectCmd.Reason
    REJECTION_CREDENTIAL_FAILURE: RejectCmd.Reason
    REJECTION_INTERNAL_SERVER_ERROR: RejectCmd.Reason
    REJECTION_INVALID_PROTO: RejectCmd.Reason
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: RejectCmd.Reason
    message: str
    def __init__(self, reason: _Optional[_Union[RejectCmd.Reason, str]] = ..., message: _Optional[str] = ...) -> None: ...

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
    since: str
    tail_lines: int
    bytes_limit: int
    previous: bool
    path: str
    def __init__(self, pod_uid: _Optional[str] = ..., container: _Optional[str] = ..., follow: _Optional[bool] = ..., timestamp: _Optional[bool] = ..., since: _Optional[str] = ..., tail_lines: _Optional[int] = ..., bytes_limit: _Optional[int] = ..., previous: _Optional[bool] = ..., path: _Optional[str] = ...) -> None: ...

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

class PodPortForwardCmd(_message.Message):
    __slots__ = ("pod_uid", "port", "protocol")
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    pod_uid: str
    port: int
    protocol: str
    def __init__(self, pod_uid: _Optional[str] = ..., port: _Optional[int] = ..., protocol: _Optional[str] = ...) -> None: ...

class ContainerTerminalResizeCmd(_message.Message):
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

class PodListCmd(_message.Message):
    __slots__ = ("namespace", "name", "all")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    all: bool
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class ContainerStatus(_message.Message):
    __slots__ = ("container_id", "image_id", "created_at", "started_at", "finished_at", "exit_code", "restart_count", "reason", "message")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    RESTART_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    image_id: str
    created_at: str
    started_at: str
    finished_at: str
    exit_code: int
    restart_count: int
    reason: str
    message: str
    def __init__(self, container_id: _Optional[str] = ..., image_id: _Optional[str] = ..., created_at: _Optional[str] = ..., started_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., exit_code: _Optional[int] = ..., restart_count: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class PodStatusMsg(_message.Message):
    __slots__ = ("uid", "container_statuses", "pod_ipv4", "pod_ipv6")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        POD_STATE_UNKNOWN: _ClassVar[PodStatusMsg.State]
        POD_STATE_PENDING: _ClassVar[PodStatusMsg.State]
        POD_STATE_RUNNING: _ClassVar[PodStatusMsg.State]
        POD_STATE_SUCCEEDED: _ClassVar[PodStatusMsg.State]
        POD_STATE_FAILED: _ClassVar[PodStatusMsg.State]
    POD_STATE_UNKNOWN: PodStatusMsg.State
    POD_STATE_PENDING: PodStatusMsg.State
    POD_STATE_RUNNING: PodStatusMsg.State
    POD_STATE_SUCCEEDED: PodStatusMsg.State
    POD_STATE_FAILED: PodStatusMsg.State
    class ContainerStatusesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ContainerStatus
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ContainerStatus, _Mapping]] = ...) -> None: ...
    UID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_STATUSES_FIELD_NUMBER: _ClassVar[int]
    POD_IPV4_FIELD_NUMBER: _ClassVar[int]
    POD_IPV6_FIELD_NUMBER: _ClassVar[int]
    uid: str
    container_statuses: _containers.MessageMap[str, ContainerStatus]
    pod_ipv4: str
    pod_ipv6: str
    def __init__(self, uid: _Optional[str] = ..., container_statuses: _Optional[_Mapping[str, ContainerStatus]] = ..., pod_ipv4: _Optional[str] = ..., pod_ipv6: _Optional[str] = ...) -> None: ...

class PodStatusListMsg(_message.Message):
    __slots__ = ("pods",)
    PODS_FIELD_NUMBER: _ClassVar[int]
    pods: _containers.RepeatedCompositeFieldContainer[PodStatusMsg]
    def __init__(self, pods: _Optional[_Iterable[_Union[PodStatusMsg, _Mapping]]] = ...) -> None: ...

class NodeContainerRuntimeInfo(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class NodeSystemInfo(_message.Message):
    __slots__ = ("os", "os_image", "arch", "kernel_version", "boot_id", "machine_id", "system_uuid", "runtime_info")
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    MACHINE_ID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_UUID_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_INFO_FIELD_NUMBER: _ClassVar[int]
    os: str
    os_image: str
    arch: str
    kernel_version: str
    boot_id: str
    machine_id: str
    system_uuid: str
    runtime_info: NodeContainerRuntimeInfo
    def __init__(self, os: _Optional[str] = ..., os_image: _Optional[str] = ..., arch: _Optional[str] = ..., kernel_version: _Optional[str] = ..., boot_id: _Optional[str] = ..., machine_id: _Optional[str] = ..., system_uuid: _Optional[str] = ..., runtime_info: _Optional[_Union[NodeContainerRuntimeInfo, _Mapping]] = ...) -> None: ...

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
    class Condition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NODE_CONDITION_UNKNOWN: _ClassVar[NodeConditions.Condition]
        NODE_CONDITION_HEALTHY: _ClassVar[NodeConditions.Condition]
        NODE_CONDITION_UNHEALTHY: _ClassVar[NodeConditions.Condition]
    NODE_CONDITION_UNKNOWN: NodeConditions.Condition
    NODE_CONDITION_HEALTHY: NodeConditions.Condition
    NODE_CONDITION_UNHEALTHY: NodeConditions.Condition
    READY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    DISK_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    ready: NodeConditions.Condition
    memory: NodeConditions.Condition
    disk: NodeConditions.Condition
    pid: NodeConditions.Condition
    network: NodeConditions.Condition
    pod: NodeConditions.Condition
    def __init__(self, ready: _Optional[_Union[NodeConditions.Condition, str]] = ..., memory: _Optional[_Union[NodeConditions.Condition, str]] = ..., disk: _Optional[_Union[NodeConditions.Condition, str]] = ..., pid: _Optional[_Union[NodeConditions.Condition, str]] = ..., network: _Optional[_Union[NodeConditions.Condition, str]] = ..., pod: _Optional[_Union[NodeConditions.Condition, str]] = ...) -> None: ...

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
