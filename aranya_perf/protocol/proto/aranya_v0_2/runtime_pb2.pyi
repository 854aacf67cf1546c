from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PacketType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    _INVALID_RUNTIME_DATA: _ClassVar[PacketType]
    CMD_GET_INFO: _ClassVar[PacketType]
    CMD_EXEC: _ClassVar[PacketType]
    CMD_ATTACH: _ClassVar[PacketType]
    CMD_LOGS: _ClassVar[PacketType]
    CMD_TTY_RESIZE: _ClassVar[PacketType]
    CMD_PORT_FORWARD: _ClassVar[PacketType]
    MSG_RUNTIME_INFO: _ClassVar[PacketType]
    MSG_ERROR: _ClassVar[PacketType]
    CMD_IMAGE_LIST: _ClassVar[PacketType]
    CMD_IMAGE_ENSURE: _ClassVar[PacketType]
    CMD_IMAGE_DELETE: _ClassVar[PacketType]
    MSG_IMAGE_STATUS: _ClassVar[PacketType]
    MSG_IMAGE_STATUS_LIST: _ClassVar[PacketType]
    CMD_POD_LIST: _ClassVar[PacketType]
    CMD_POD_ENSURE: _ClassVar[PacketType]
    CMD_POD_DELETE: _ClassVar[PacketType]
    MSG_POD_STATUS: _ClassVar[PacketType]
    MSG_POD_STATUS_LIST: _ClassVar[PacketType]

class PodState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POD_STATE_UNKNOWN: _ClassVar[PodState]
    POD_STATE_PENDING: _ClassVar[PodState]
    POD_STATE_RUNNING: _ClassVar[PodState]
    POD_STATE_SUCCEEDED: _ClassVar[PodState]
    POD_STATE_FAILED: _ClassVar[PodState]
_INVALID_RUNTIME_DATA: PacketType
CMD_GET_INFO: PacketType
CMD_EXEC: PacketType
CMD_ATTACH: PacketType
CMD_LOGS: PacketType
CMD_TTY_RESIZE: PacketType
CMD_PORT_FORWARD: PacketType
MSG_RUNTIME_INFO: PacketType
MSG_ERROR: PacketType
CMD_IMAGE_LIST: PacketType
CMD_IMAGE_ENSURE: PacketType
CMD_IMAGE_DELETE: PacketType
MSG_IMAGE_STATUS: PacketType
MSG_IMAGE_STATUS_LIST: PacketType
CMD_POD_LIST: PacketType
CMD_POD_ENSURE: PacketType
CMD_POD_DELETE: PacketType
MSG_POD_STATUS: PacketType
MSG_POD_STATUS_LIST: PacketType
POD_STATE_UNKNOWN: PodState
POD_STATE_PENDING: PodState
POD_STATE_RUNNING: PodState
POD_STATE_SUCCEEDED: PodState
POD_STATE_FAILED: PodState

class Packet(_message.Message):
    __slots__ = ("kind", "payload")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    kind: PacketType
    payload: bytes
    def __init__(self, kind: _Optional[_Union[PacketType, str]] = ..., payload: _Optional[bytes] = ...) -> None: ...

class RuntimeInfo(_message.Message):
    __slots__ = ("name", "version", "os", "os_image", "arch", "kernel_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    os: str
    os_image: str
    arch: str
    kernel_version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., os: _Optional[str] = ..., os_image: _Optional[str] = ..., arch: _Optional[str] = ..., kernel_version: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("uid", "network", "containers")
    class ContainersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ContainerStatus
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ContainerStatus, _Mapping]] = ...) -> None: ...
    UID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    uid: str
    network: bytes
    containers: _containers.MessageMap[str, ContainerStatus]
    def __init__(self, uid: _Optional[str] = ..., network: _Optional[bytes] = ..., containers: _Optional[_Mapping[str, ContainerStatus]] = ...) -> None: ...

class PodStatusListMsg(_message.Message):
    __slots__ = ("pods",)
    PODS_FIELD_NUMBER: _ClassVar[int]
    pods: _containers.RepeatedCompositeFieldContainer[PodStatusMsg]
    def __init__(self, pods: _Optional[_Iterable[_Union[PodStatusMsg, _Mapping]]] = ...) -> None: ...

class PodListCmd(_message.Message):
    __slots__ = ("all", "names")
    ALL_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    all: bool
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, all: _Optional[bool] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...
