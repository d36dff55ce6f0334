from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Signed(_message.Message):
    __slots__ = ("payload", "signature", "certificate")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    signature: bytes
    certificate: bytes
    def __init__(self, payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., certificate: _Optional[bytes] = ...) -> None: ...

class Dimension(_message.Message):
    __slots__ = ("name", "domain", "info_class", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    INFO_CLASS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: _containers.RepeatedScalarFieldContainer[str]
    info_class: str
    description: str
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[_Iterable[str]] = ..., info_class: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "description", "dimensions", "measures", "definition_hash", "coverage")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    measures: _containers.RepeatedScalarFieldContainer[str]
    definition_hash: str
    coverage: _containers.RepeatedCompositeFieldContainer[Coverage]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ..., measures: _Optional[_Iterable[str]] = ..., definition_hash: _Optional[str] = ..., coverage: _Optional[_Iterable[_Union[Coverage, _Mapping]]] = ...) -> None: ...

class Coverage(_message.Message):
    __slots__ = ("dimension", "values")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dimension: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class PurposeDataset(_message.Message):
    __slots__ = ("dataset", "columns")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ...) -> None: ...

class Purpose(_message.Message):
    __slots__ = ("id", "description", "legal_basis", "datasets", "wat_allowed", "law", "allowed", "epsilon_cap", "epsilon_remaining", "delta_remaining")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    WAT_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    LAW_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    EPSILON_CAP_FIELD_NUMBER: _ClassVar[int]
    EPSILON_REMAINING_FIELD_NUMBER: _ClassVar[int]
    DELTA_REMAINING_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    legal_basis: str
    datasets: _containers.RepeatedScalarFieldContainer[str]
    wat_allowed: bool
    law: str
    allowed: _containers.RepeatedCompositeFieldContainer[PurposeDataset]
    epsilon_cap: str
    epsilon_remaining: str
    delta_remaining: str
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., legal_basis: _Optional[str] = ..., datasets: _Optional[_Iterable[str]] = ..., wat_allowed: _Optional[bool] = ..., law: _Optional[str] = ..., allowed: _Optional[_Iterable[_Union[PurposeDataset, _Mapping]]] = ..., epsilon_cap: _Optional[str] = ..., epsilon_remaining: _Optional[str] = ..., delta_remaining: _Optional[str] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("period", "epsilon_total", "epsilon_remaining", "delta_total", "delta_remaining", "renews_on", "epsilon_spent_all_periods", "delta_spent_all_periods", "max_epsilon_per_query", "max_delta_per_query", "min_epsilon_per_query")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    EPSILON_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EPSILON_REMAINING_FIELD_NUMBER: _ClassVar[int]
    DELTA_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DELTA_REMAINING_FIELD_NUMBER: _ClassVar[int]
    RENEWS_ON_FIELD_NUMBER: _ClassVar[int]
    EPSILON_SPENT_ALL_PERIODS_FIELD_NUMBER: _ClassVar[int]
    DELTA_SPENT_ALL_PERIODS_FIELD_NUMBER: _ClassVar[int]
    MAX_EPSILON_PER_QUERY_FIELD_NUMBER: _ClassVar[int]
    MAX_DELTA_PER_QUERY_FIELD_NUMBER: _ClassVar[int]
    MIN_EPSILON_PER_QUERY_FIELD_NUMBER: _ClassVar[int]
    period: str
    epsilon_total: str
    epsilon_remaining: str
    delta_total: str
    delta_remaining: str
    renews_on: str
    epsilon_spent_all_periods: str
    delta_spent_all_periods: str
    max_epsilon_per_query: str
    max_delta_per_query: str
    min_epsilon_per_query: str
    def __init__(self, period: _Optional[str] = ..., epsilon_total: _Optional[str] = ..., epsilon_remaining: _Optional[str] = ..., delta_total: _Optional[str] = ..., delta_remaining: _Optional[str] = ..., renews_on: _Optional[str] = ..., epsilon_spent_all_periods: _Optional[str] = ..., delta_spent_all_periods: _Optional[str] = ..., max_epsilon_per_query: _Optional[str] = ..., max_delta_per_query: _Optional[str] = ..., min_epsilon_per_query: _Optional[str] = ...) -> None: ...

class Suppression(_message.Message):
    __slots__ = ("below", "purposes", "datasets")
    BELOW_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    below: int
    purposes: _containers.RepeatedScalarFieldContainer[str]
    datasets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, below: _Optional[int] = ..., purposes: _Optional[_Iterable[str]] = ..., datasets: _Optional[_Iterable[str]] = ...) -> None: ...

class Describe(_message.Message):
    __slots__ = ("protocol_version", "capabilities", "org", "kind", "datasets", "purposes", "budget", "data_as_of", "issued_at_unix", "software_version", "suppression", "audit_seq", "audit_head", "data_from")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    DATA_AS_OF_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSION_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SEQ_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HEAD_FIELD_NUMBER: _ClassVar[int]
    DATA_FROM_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    org: str
    kind: str
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    purposes: _containers.RepeatedCompositeFieldContainer[Purpose]
    budget: Budget
    data_as_of: str
    issued_at_unix: int
    software_version: str
    suppression: _containers.RepeatedCompositeFieldContainer[Suppression]
    audit_seq: int
    audit_head: bytes
    data_from: str
    def __init__(self, protocol_version: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., org: _Optional[str] = ..., kind: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., purposes: _Optional[_Iterable[_Union[Purpose, _Mapping]]] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., data_as_of: _Optional[str] = ..., issued_at_unix: _Optional[int] = ..., software_version: _Optional[str] = ..., suppression: _Optional[_Iterable[_Union[Suppression, _Mapping]]] = ..., audit_seq: _Optional[int] = ..., audit_head: _Optional[bytes] = ..., data_from: _Optional[str] = ...) -> None: ...

class QueryEnvelope(_message.Message):
    __slots__ = ("body", "query_id", "issued_at_unix", "expires_at_unix", "refresh")
    BODY_FIELD_NUMBER: _ClassVar[int]
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    query_id: str
    issued_at_unix: int
    expires_at_unix: int
    refresh: bool
    def __init__(self, body: _Optional[bytes] = ..., query_id: _Optional[str] = ..., issued_at_unix: _Optional[int] = ..., expires_at_unix: _Optional[int] = ..., refresh: _Optional[bool] = ...) -> None: ...

class Cell(_message.Message):
    __slots__ = ("group", "value", "ci_low", "ci_high", "suppressed")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    group: _containers.RepeatedScalarFieldContainer[str]
    value: int
    ci_low: float
    ci_high: float
    suppressed: bool
    def __init__(self, group: _Optional[_Iterable[str]] = ..., value: _Optional[int] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("query_id", "body_sha256", "org", "kind", "dataset", "by", "cells", "epsilon", "noise_scale", "ci_level", "peildatum", "data_as_of", "audit_head", "from_store", "answered_at_unix", "audit_seq")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    NOISE_SCALE_FIELD_NUMBER: _ClassVar[int]
    CI_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PEILDATUM_FIELD_NUMBER: _ClassVar[int]
    DATA_AS_OF_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HEAD_FIELD_NUMBER: _ClassVar[int]
    FROM_STORE_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SEQ_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    body_sha256: bytes
    org: str
    kind: str
    dataset: str
    by: _containers.RepeatedScalarFieldContainer[str]
    cells: _containers.RepeatedCompositeFieldContainer[Cell]
    epsilon: str
    noise_scale: float
    ci_level: float
    peildatum: str
    data_as_of: str
    audit_head: bytes
    from_store: bool
    answered_at_unix: int
    audit_seq: int
    def __init__(self, query_id: _Optional[str] = ..., body_sha256: _Optional[bytes] = ..., org: _Optional[str] = ..., kind: _Optional[str] = ..., dataset: _Optional[str] = ..., by: _Optional[_Iterable[str]] = ..., cells: _Optional[_Iterable[_Union[Cell, _Mapping]]] = ..., epsilon: _Optional[str] = ..., noise_scale: _Optional[float] = ..., ci_level: _Optional[float] = ..., peildatum: _Optional[str] = ..., data_as_of: _Optional[str] = ..., audit_head: _Optional[bytes] = ..., from_store: _Optional[bool] = ..., answered_at_unix: _Optional[int] = ..., audit_seq: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("kind", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    message: str
    def __init__(self, kind: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("request_id", "envelope")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    envelope: Signed
    def __init__(self, request_id: _Optional[str] = ..., envelope: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class QueryReply(_message.Message):
    __slots__ = ("request_id", "answer", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    answer: Signed
    error: Error
    def __init__(self, request_id: _Optional[str] = ..., answer: _Optional[_Union[Signed, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class RevocationList(_message.Message):
    __slots__ = ("crl_der",)
    CRL_DER_FIELD_NUMBER: _ClassVar[int]
    crl_der: bytes
    def __init__(self, crl_der: _Optional[bytes] = ...) -> None: ...

class LinkRequest(_message.Message):
    __slots__ = ("request_id", "envelope", "run_id", "role")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    envelope: Signed
    run_id: str
    role: str
    def __init__(self, request_id: _Optional[str] = ..., envelope: _Optional[_Union[Signed, _Mapping]] = ..., run_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class LinkKey(_message.Message):
    __slots__ = ("query_id", "run_id", "org", "kind", "hpke_public", "cells", "group_public", "role")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HPKE_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    GROUP_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    run_id: str
    org: str
    kind: str
    hpke_public: bytes
    cells: int
    group_public: bytes
    role: str
    def __init__(self, query_id: _Optional[str] = ..., run_id: _Optional[str] = ..., org: _Optional[str] = ..., kind: _Optional[str] = ..., hpke_public: _Optional[bytes] = ..., cells: _Optional[int] = ..., group_public: _Optional[bytes] = ..., role: _Optional[str] = ...) -> None: ...

class Sealed(_message.Message):
    __slots__ = ("step", "recipient", "index", "count", "content_hash", "ciphertext")
    STEP_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    step: str
    recipient: str
    index: int
    count: int
    content_hash: bytes
    ciphertext: bytes
    def __init__(self, step: _Optional[str] = ..., recipient: _Optional[str] = ..., index: _Optional[int] = ..., count: _Optional[int] = ..., content_hash: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class ListCommit(_message.Message):
    __slots__ = ("query_id", "run_id", "sender", "sizes", "digest")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    run_id: str
    sender: str
    sizes: _containers.RepeatedScalarFieldContainer[int]
    digest: bytes
    def __init__(self, query_id: _Optional[str] = ..., run_id: _Optional[str] = ..., sender: _Optional[str] = ..., sizes: _Optional[_Iterable[int]] = ..., digest: _Optional[bytes] = ...) -> None: ...

class PointChunk(_message.Message):
    __slots__ = ("list_index", "index", "count", "points")
    LIST_INDEX_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    list_index: int
    index: int
    count: int
    points: bytes
    def __init__(self, list_index: _Optional[int] = ..., index: _Optional[int] = ..., count: _Optional[int] = ..., points: _Optional[bytes] = ...) -> None: ...

class ImageCommit(_message.Message):
    __slots__ = ("query_id", "run_id", "sender", "owner", "sizes", "digest")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    run_id: str
    sender: str
    owner: str
    sizes: _containers.RepeatedScalarFieldContainer[int]
    digest: bytes
    def __init__(self, query_id: _Optional[str] = ..., run_id: _Optional[str] = ..., sender: _Optional[str] = ..., owner: _Optional[str] = ..., sizes: _Optional[_Iterable[int]] = ..., digest: _Optional[bytes] = ...) -> None: ...

class WeightedSum(_message.Message):
    __slots__ = ("query_id", "run_id", "sender", "image_digest", "point")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    IMAGE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    run_id: str
    sender: str
    image_digest: bytes
    point: bytes
    def __init__(self, query_id: _Optional[str] = ..., run_id: _Optional[str] = ..., sender: _Optional[str] = ..., image_digest: _Optional[bytes] = ..., point: _Optional[bytes] = ...) -> None: ...

class ImageProof(_message.Message):
    __slots__ = ("query_id", "run_id", "sender", "image_digest", "proof")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    IMAGE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    run_id: str
    sender: str
    image_digest: bytes
    proof: bytes
    def __init__(self, query_id: _Optional[str] = ..., run_id: _Optional[str] = ..., sender: _Optional[str] = ..., image_digest: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...

class LinkVerdict(_message.Message):
    __slots__ = ("query_id", "run_id", "org", "kind", "role", "ok", "reason", "anchor_sizes", "shift", "epsilon", "delta", "audit_seq", "audit_head", "body_sha256", "anchor_digest", "other_digest", "other_size", "counter")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_SIZES_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SEQ_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HEAD_FIELD_NUMBER: _ClassVar[int]
    BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_DIGEST_FIELD_NUMBER: _ClassVar[int]
    OTHER_DIGEST_FIELD_NUMBER: _ClassVar[int]
    OTHER_SIZE_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    run_id: str
    org: str
    kind: str
    role: str
    ok: bool
    reason: str
    anchor_sizes: _containers.RepeatedScalarFieldContainer[int]
    shift: int
    epsilon: str
    delta: str
    audit_seq: int
    audit_head: bytes
    body_sha256: bytes
    anchor_digest: bytes
    other_digest: bytes
    other_size: int
    counter: str
    def __init__(self, query_id: _Optional[str] = ..., run_id: _Optional[str] = ..., org: _Optional[str] = ..., kind: _Optional[str] = ..., role: _Optional[str] = ..., ok: _Optional[bool] = ..., reason: _Optional[str] = ..., anchor_sizes: _Optional[_Iterable[int]] = ..., shift: _Optional[int] = ..., epsilon: _Optional[str] = ..., delta: _Optional[str] = ..., audit_seq: _Optional[int] = ..., audit_head: _Optional[bytes] = ..., body_sha256: _Optional[bytes] = ..., anchor_digest: _Optional[bytes] = ..., other_digest: _Optional[bytes] = ..., other_size: _Optional[int] = ..., counter: _Optional[str] = ...) -> None: ...

class CounterRelease(_message.Message):
    __slots__ = ("query_id", "run_id", "org", "ok", "reason", "culprit", "matches", "anchor_sizes", "anchor_digest", "other_digest", "other_size", "shift", "body_sha256")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CULPRIT_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_SIZES_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_DIGEST_FIELD_NUMBER: _ClassVar[int]
    OTHER_DIGEST_FIELD_NUMBER: _ClassVar[int]
    OTHER_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    run_id: str
    org: str
    ok: bool
    reason: str
    culprit: str
    matches: _containers.RepeatedScalarFieldContainer[int]
    anchor_sizes: _containers.RepeatedScalarFieldContainer[int]
    anchor_digest: bytes
    other_digest: bytes
    other_size: int
    shift: int
    body_sha256: bytes
    def __init__(self, query_id: _Optional[str] = ..., run_id: _Optional[str] = ..., org: _Optional[str] = ..., ok: _Optional[bool] = ..., reason: _Optional[str] = ..., culprit: _Optional[str] = ..., matches: _Optional[_Iterable[int]] = ..., anchor_sizes: _Optional[_Iterable[int]] = ..., anchor_digest: _Optional[bytes] = ..., other_digest: _Optional[bytes] = ..., other_size: _Optional[int] = ..., shift: _Optional[int] = ..., body_sha256: _Optional[bytes] = ...) -> None: ...

class LinkMessage(_message.Message):
    __slots__ = ("run_id", "sender", "key", "verdict", "error", "sealed", "commit", "points", "image_commit", "weighted", "proof", "release", "outcome")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    sender: str
    key: Signed
    verdict: Signed
    error: Error
    sealed: Sealed
    commit: Signed
    points: PointChunk
    image_commit: Signed
    weighted: Signed
    proof: Signed
    release: Signed
    outcome: Signed
    def __init__(self, run_id: _Optional[str] = ..., sender: _Optional[str] = ..., key: _Optional[_Union[Signed, _Mapping]] = ..., verdict: _Optional[_Union[Signed, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., sealed: _Optional[_Union[Sealed, _Mapping]] = ..., commit: _Optional[_Union[Signed, _Mapping]] = ..., points: _Optional[_Union[PointChunk, _Mapping]] = ..., image_commit: _Optional[_Union[Signed, _Mapping]] = ..., weighted: _Optional[_Union[Signed, _Mapping]] = ..., proof: _Optional[_Union[Signed, _Mapping]] = ..., release: _Optional[_Union[Signed, _Mapping]] = ..., outcome: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class CounterHello(_message.Message):
    __slots__ = ("org", "protocol_version", "capabilities", "issued_at_unix")
    ORG_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    org: str
    protocol_version: int
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    issued_at_unix: int
    def __init__(self, org: _Optional[str] = ..., protocol_version: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., issued_at_unix: _Optional[int] = ...) -> None: ...

class NodeMessage(_message.Message):
    __slots__ = ("describe", "reply", "link", "hello", "probe", "instance")
    DESCRIBE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    describe: Signed
    reply: QueryReply
    link: LinkMessage
    hello: Signed
    probe: bool
    instance: str
    def __init__(self, describe: _Optional[_Union[Signed, _Mapping]] = ..., reply: _Optional[_Union[QueryReply, _Mapping]] = ..., link: _Optional[_Union[LinkMessage, _Mapping]] = ..., hello: _Optional[_Union[Signed, _Mapping]] = ..., probe: _Optional[bool] = ..., instance: _Optional[str] = ...) -> None: ...

class CoordinatorMessage(_message.Message):
    __slots__ = ("query", "revocation_list", "link_request", "link")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_LIST_FIELD_NUMBER: _ClassVar[int]
    LINK_REQUEST_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    query: QueryRequest
    revocation_list: RevocationList
    link_request: LinkRequest
    link: LinkMessage
    def __init__(self, query: _Optional[_Union[QueryRequest, _Mapping]] = ..., revocation_list: _Optional[_Union[RevocationList, _Mapping]] = ..., link_request: _Optional[_Union[LinkRequest, _Mapping]] = ..., link: _Optional[_Union[LinkMessage, _Mapping]] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("envelope",)
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    envelope: Signed
    def __init__(self, envelope: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class NodeResult(_message.Message):
    __slots__ = ("org", "kind", "answer", "error")
    ORG_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    org: str
    kind: str
    answer: Signed
    error: Error
    def __init__(self, org: _Optional[str] = ..., kind: _Optional[str] = ..., answer: _Optional[_Union[Signed, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class RunResult(_message.Message):
    __slots__ = ("run_id", "peer_org", "peer_kind", "anchor_verdict", "other_verdict", "error", "failed_org", "bytes_relayed", "release", "counter_org", "bytes_to_counter")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_ORG_FIELD_NUMBER: _ClassVar[int]
    PEER_KIND_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_VERDICT_FIELD_NUMBER: _ClassVar[int]
    OTHER_VERDICT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILED_ORG_FIELD_NUMBER: _ClassVar[int]
    BYTES_RELAYED_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    COUNTER_ORG_FIELD_NUMBER: _ClassVar[int]
    BYTES_TO_COUNTER_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    peer_org: str
    peer_kind: str
    anchor_verdict: Signed
    other_verdict: Signed
    error: Error
    failed_org: str
    bytes_relayed: int
    release: Signed
    counter_org: str
    bytes_to_counter: int
    def __init__(self, run_id: _Optional[str] = ..., peer_org: _Optional[str] = ..., peer_kind: _Optional[str] = ..., anchor_verdict: _Optional[_Union[Signed, _Mapping]] = ..., other_verdict: _Optional[_Union[Signed, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., failed_org: _Optional[str] = ..., bytes_relayed: _Optional[int] = ..., release: _Optional[_Union[Signed, _Mapping]] = ..., counter_org: _Optional[str] = ..., bytes_to_counter: _Optional[int] = ...) -> None: ...

class CountOutcome(_message.Message):
    __slots__ = ("results", "by", "combined")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    COMBINED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[NodeResult]
    by: _containers.RepeatedScalarFieldContainer[str]
    combined: _containers.RepeatedCompositeFieldContainer[Cell]
    def __init__(self, results: _Optional[_Iterable[_Union[NodeResult, _Mapping]]] = ..., by: _Optional[_Iterable[str]] = ..., combined: _Optional[_Iterable[_Union[Cell, _Mapping]]] = ...) -> None: ...

class LinkedOutcome(_message.Message):
    __slots__ = ("runs", "by")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RunResult]
    by: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, runs: _Optional[_Iterable[_Union[RunResult, _Mapping]]] = ..., by: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("count", "linked")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    LINKED_FIELD_NUMBER: _ClassVar[int]
    count: CountOutcome
    linked: LinkedOutcome
    def __init__(self, count: _Optional[_Union[CountOutcome, _Mapping]] = ..., linked: _Optional[_Union[LinkedOutcome, _Mapping]] = ...) -> None: ...

class CatalogRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CatalogEntry(_message.Message):
    __slots__ = ("org", "kind", "online", "describe", "last_seen_unix", "unbound_datasets", "last_error", "last_error_unix", "connected_since_unix", "queries_sent", "queries_answered", "queries_failed", "connections", "refused_connections")
    ORG_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    DESCRIBE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_FIELD_NUMBER: _ClassVar[int]
    UNBOUND_DATASETS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_UNIX_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_SINCE_UNIX_FIELD_NUMBER: _ClassVar[int]
    QUERIES_SENT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_ANSWERED_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FAILED_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    org: str
    kind: str
    online: bool
    describe: Signed
    last_seen_unix: int
    unbound_datasets: _containers.RepeatedScalarFieldContainer[str]
    last_error: str
    last_error_unix: int
    connected_since_unix: int
    queries_sent: int
    queries_answered: int
    queries_failed: int
    connections: int
    refused_connections: int
    def __init__(self, org: _Optional[str] = ..., kind: _Optional[str] = ..., online: _Optional[bool] = ..., describe: _Optional[_Union[Signed, _Mapping]] = ..., last_seen_unix: _Optional[int] = ..., unbound_datasets: _Optional[_Iterable[str]] = ..., last_error: _Optional[str] = ..., last_error_unix: _Optional[int] = ..., connected_since_unix: _Optional[int] = ..., queries_sent: _Optional[int] = ..., queries_answered: _Optional[int] = ..., queries_failed: _Optional[int] = ..., connections: _Optional[int] = ..., refused_connections: _Optional[int] = ...) -> None: ...

class CatalogResponse(_message.Message):
    __slots__ = ("nodes", "counters")
    NODES_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[CatalogEntry]
    counters: _containers.RepeatedCompositeFieldContainer[CatalogEntry]
    def __init__(self, nodes: _Optional[_Iterable[_Union[CatalogEntry, _Mapping]]] = ..., counters: _Optional[_Iterable[_Union[CatalogEntry, _Mapping]]] = ...) -> None: ...
