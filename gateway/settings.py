"""Server settings: one pydantic settings class, read from ``GATEWISE_*`` and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from gatewise.gateway.config import LOAD_POLICIES
from gatewise.gateway.memory import parse_size
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServerSettings(BaseSettings):
    """Everything ``gatewise serve`` can be told; each field is also ``GATEWISE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GATEWISE_", extra="forbid", use_attribute_docstrings=True)
    """Each field's docstring is its description, which ``gatewise serve --help`` shows."""

    repository: Path = Path("models")
    """The model repository folder (one sub-folder per model)."""
    host: str = "127.0.0.1"
    """Address to bind; a non-loopback one (0.0.0.0: every interface) needs authentication
    (API keys, JWTs or client certificates) or --allow-unauthenticated."""
    grpc_port: int = Field(default=8001, ge=0, le=65535)
    """gRPC port; 0 picks a free one (printed at start-up)."""
    http_port: int = Field(default=8000, ge=0, le=65535)
    """HTTP/REST port (KServe v2 REST with Triton's extensions), beside gRPC in the same process; 0 serves no HTTP."""
    http_keepalive_timeout_s: float = Field(default=30.0, gt=0)
    """HTTP: close a connection that sent no complete request headers for this many seconds since it
    opened or since its last answer: an idle keep-alive connection and a client trickling headers alike."""
    http_read_timeout_s: float = Field(default=30.0, gt=0)
    """HTTP: most seconds a request body may take to arrive (408 after)."""
    cors_origins: list[str] = []
    """HTTP: origins that browsers may call from (CORS), '*' for any; none by default (CORS off)."""
    console: bool = False
    """Serve the browser console at /console on the HTTP port (docs/console.md). Off by default: it
    adds pages, sessions and a sign-in form that a server answering only API clients does not need."""
    console_session_idle_s: float = Field(default=1800.0, gt=0)
    """Console: a session unused for this many seconds is gone (sign in again)."""
    console_max_sessions: int = Field(default=1000, ge=1)
    """Console: most sessions held at once; past it the least recently used one ends."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Prometheus metrics on http://METRICS_HOST:PORT/metrics; None serves no metrics endpoint."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics endpoint binds: loopback by default, whatever the gRPC host; 0.0.0.0
    lets Prometheus scrape the pod (plain HTTP, no authentication: limit who reaches the port)."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""
    workers: int = Field(default=1, ge=1, le=64)
    """Processes sharing the port through SO_REUSEPORT, each with its own engines."""
    drain_delay_s: float = Field(default=0.0, ge=0)
    """On SIGTERM/SIGINT: seconds to keep answering after health went NOT_SERVING, so load
    balancers (Kubernetes endpoints, a mesh) stop routing here before calls are refused."""
    grace_period_s: float = Field(default=10.0, ge=0)
    """After the drain delay: how long accepted requests may take to finish, in seconds."""
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Largest gRPC message accepted or sent, in bytes."""
    max_string_bytes: int = Field(default=1024 * 1024, ge=1)
    """Largest single BYTES element accepted, in bytes."""
    max_explain_samples: int = Field(default=2048, ge=1)
    """Largest ``explain_samples`` a request may ask for: coalitions evaluated per explained row."""
    max_stream_inflight: int = Field(default=32, ge=1, le=4096)
    """Most requests of one ModelStreamInfer stream read and not yet answered back to the client.
    Past it the server reads no more from that stream until the client takes answers, so a
    client that sends and never reads holds at most this many requests and answers in memory."""
    max_explain_units: int = Field(default=512, ge=1)
    """Most units (words, fields) one explained row may weigh; a row with more is refused with
    INVALID_ARGUMENT. Text plugins weigh only the words the model sees (up to its tokenizer's
    ``max_length``), so a long text stays within this unless the model reads that many words."""
    max_explain_work: int = Field(default=131072, ge=1)
    """Most work one explained row may cost: units weighed x coalitions evaluated, which is what
    its perturbed rows cost the engine (default 131072: the default 256 samples for a row of
    the most units, or 2048 samples for 64 words). Past it, INVALID_ARGUMENT saying how many
    samples would fit, so the largest ``explain_samples`` on a long text is refused at once
    instead of running for minutes on CPU."""
    max_explain_coalitions: int = Field(default=16384, ge=1)
    """Most coalitions one request may have evaluated: explained rows x ``explain_samples``
    (default 16384: 8 rows at the largest ``max_explain_samples``); over it, INVALID_ARGUMENT."""
    max_concurrent_streams: int = Field(default=256, ge=1)
    """Most concurrent streams per HTTP/2 connection."""
    max_connection_age_s: float | None = Field(default=None, gt=0)
    """Close each client connection gracefully after this many seconds (calls on it finish
    within the grace period), so clients re-resolve and spread over replicas that started
    since they connected; None keeps connections open."""
    tracing: bool = False
    """OpenTelemetry spans per stage (queue, preprocess, compute, postprocess); off is free."""
    tls_cert: Path | None = None
    """PEM certificate chain; with tls_key, the server speaks TLS only."""
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    """PEM CA bundle; set, clients must present a certificate it signed (mutual TLS)."""
    tls_admin_clients: Annotated[list[str], NoDecode] = []
    """Client certificate common names that are administrators, where mutual TLS is the only
    authentication (no API keys or JWTs); other certificate holders may call every model but
    never load or unload one. Repeat the flag per name; GATEWISE_TLS_ADMIN_CLIENTS takes
    names separated by commas (a common name may contain spaces)."""
    auth_keys_file: Path | None = None
    """TOML file of hashed API keys and the models each may call; set, every RPC needs a token.
    Must not be readable by others (see docs/security.md); re-read on SIGHUP."""
    jwt_public_key: Path | None = None
    """PEM public key that verifies bearer JWTs (RS256/ES256), as an alternative to API keys;
    re-read on SIGHUP."""
    jwt_jwks_file: Path | None = None
    """JWKS file (the identity provider's published keys): a token's ``kid`` picks its key;
    re-read on SIGHUP."""
    jwt_issuer: str | None = None
    """Accept only JWTs whose ``iss`` is exactly this (the identity provider's issuer URL)."""
    jwt_audience: str | None = None
    """Accept only JWTs whose ``aud`` is, or lists, this; unset, ``aud`` is not checked (warned
    at start: a token issued for another service would then be accepted)."""
    jwt_max_lifetime_s: float = Field(default=86400.0, gt=0)
    """Longest JWT lifetime accepted, in seconds: ``exp - iat``, and ``exp`` from now."""
    allow_unauthenticated: bool = False
    """Serve a non-loopback host with no authentication at all: only where a service mesh or
    proxy authenticates every caller before it reaches this port."""
    repository_control: bool = False
    """Allow RepositoryModelLoad/Unload (Triton's explicit model control), to admin principals
    only (an admin API key, JWT ``admin`` claim or --tls-admin-clients); off, they are refused."""
    watch_interval_s: float | None = Field(default=None, gt=0)
    """Poll the repository this often (seconds) and load, reload or unload what changed."""
    memory_budget: str | None = None
    """Most host memory the models of one process may hold, as PSS (``4GiB``, ``512MiB``); past it,
    idle on-demand models are evicted, least recently used first. None: no limit."""
    device_memory_budget: str | None = None
    """Most memory the models may hold on each CUDA device (``12GiB``), measured as free device
    memory before and after each load. None: no limit."""
    max_resident_models: int | None = Field(default=None, ge=1)
    """Most models resident at once in a process, pinned included; None: no limit."""
    default_load: str = "always"
    """The ``load`` of models whose config.toml does not say: ``always`` (pinned) or ``on-demand``."""

    @field_validator("memory_budget", "device_memory_budget")
    @classmethod
    def _size(cls, value: str | None, info: object) -> str | None:
        if value is not None:
            parse_size(value, getattr(info, "field_name", "memory_budget"))
        return value

    @field_validator("default_load")
    @classmethod
    def _load(cls, value: str) -> str:
        if value not in LOAD_POLICIES:
            raise ValueError(f"default_load: {value!r} is not one of {', '.join(LOAD_POLICIES)}")
        return value

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget is None else parse_size(self.memory_budget, "memory_budget")

    @property
    def device_memory_budget_bytes(self) -> int | None:
        if self.device_memory_budget is None:
            return None
        return parse_size(self.device_memory_budget, "device_memory_budget")

    records: Path | None = None
    """Keep decision records in this folder (an SQLite file, WAL); None keeps none (docs/records.md)."""
    records_url: str | None = None
    """Keep decision records in PostgreSQL (postgresql://user@host/db), shared by several replicas."""
    records_models: str = ""
    """Also record these models without a records table of their own: comma-separated globs, * for every
    model (a table with enabled = false still opts out)."""
    records_policy: Literal["drop", "require"] = "drop"
    """Policy of models that do not set one: drop (count a record that cannot be kept, keep serving) or
    require (answer UNAVAILABLE instead). With require, an unreachable store stops start-up."""
    records_key_file: Path | None = None
    """File holding the HMAC key that signs record checkpoints and purge anchors (gatewise records verify)."""
    records_interval_s: float = Field(default=0.05, gt=0, le=10)
    """Longest a record waits for its batch's commit, in seconds: what a crash may lose."""
    records_queue_size: int = Field(default=10000, ge=1)
    """Records waiting for the writer; past it a record is dropped (drop) or the request refused (require)."""

    @field_validator("tls_admin_clients", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """``GATEWISE_TLS_ADMIN_CLIENTS="ops-a,Ops Team"``: a list of names."""
        return [name.strip() for name in value.split(",") if name.strip()] if isinstance(value, str) else value
