"""One boto3 SQS client per process and endpoint: where it points, how long it may wait, what
its errors mean.

Credentials come from the standard AWS chain only (environment, shared profile, instance or task
role): Switchyard never stores one and never shows one. Every call has connect and read timeouts
and at most :data:`MAX_ATTEMPTS` attempts, so an unreachable endpoint gives an error, never a hang.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from messaging.brokers.base import BrokerConfig, BrokerError, QueueNotFound

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 2
#: The longest one call can take before it returns or fails: every attempt's connect and read
#: timeouts, and the standard retry mode's backoff before the second attempt (at most 2 s).
CALL_LIMIT_S = MAX_ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) + 2.0
POOL_CONNECTIONS = 32
DEFAULT_REGION = "us-east-1"
#: Where the endpoint comes from when ``SWITCHYARD_BROKER_URL=sqs://`` names no host.
ENDPOINT_VARIABLE = "SWITCHYARD_SQS_ENDPOINT_URL"
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
PURGE_IN_PROGRESS_CODES = frozenset({"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress"})
REFUSED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "UnrecognizedClientException",
     "SignatureDoesNotMatch", "InvalidParameterValue", "InvalidAttributeName", "UnsupportedOperation"}
)  # fmt: skip


@dataclass(frozen=True)
class SQSSettings:
    """Where the adapter's client points: ``region``, ``endpoint_url`` (None: AWS's own) and the
    ``queue_name_prefix`` that bounds which queues are listed (as Kombu's SQS transport has it)."""

    region: str
    endpoint_url: str | None
    queue_name_prefix: str


def settings_for(config: BrokerConfig, environ: dict[str, str] | None = None) -> SQSSettings:
    """The settings of ``config``: its options first, then the environment (``AWS_REGION`` /
    ``AWS_DEFAULT_REGION``, :data:`ENDPOINT_VARIABLE`), then a host in the URL (``sqs://host:port``
    means ``http://host:port``, as Kombu reads it). User and password in the URL are ignored."""
    env = os.environ if environ is None else environ
    options = config.options
    region = options.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    endpoint = options.get("endpoint_url") or env.get(ENDPOINT_VARIABLE) or _endpoint_in_url(config.url)
    return SQSSettings(
        region=str(region), endpoint_url=endpoint or None, queue_name_prefix=str(options.get("queue_name_prefix") or "")
    )


def _endpoint_in_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    return f"http://{netloc}:{port}" if port else f"http://{netloc}"


_session_lock = threading.Lock()
_clients: dict[tuple[SQSSettings, int], Any] = {}


def shared_client(settings: SQSSettings) -> Any:
    """The process's client for ``settings``, built on first use and kept: building one costs
    more CPU than a batch of moves (botocore loads its service model and endpoint data), and its
    connection pool stays warm from one action to the next. boto3 clients are thread-safe; a
    forked child builds its own (connections must not be shared across a fork)."""
    key = (settings, os.getpid())
    with _session_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _build_client(settings)
        return client


def _build_client(settings: SQSSettings) -> Any:
    """A thread-safe boto3 SQS client with bounded timeouts and retries. Called under the lock:
    boto3's sessions are not safe to build clients from concurrently."""
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        max_pool_connections=POOL_CONNECTIONS,
    )
    session = boto3.session.Session(region_name=settings.region)
    return session.client("sqs", endpoint_url=settings.endpoint_url, config=config)


def error_code(exc: ClientError) -> str:
    error = exc.response.get("Error") or {}
    return str(error.get("QueryErrorCode") or error.get("Code") or "")


def is_missing(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error") or {}
    return bool({str(error.get("Code")), str(error.get("QueryErrorCode"))} & MISSING_QUEUE_CODES)


def is_purge_in_progress(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error") or {}
    return bool({str(error.get("Code")), str(error.get("QueryErrorCode"))} & PURGE_IN_PROGRESS_CODES)


def broker_error(doing: str, exc: BaseException, queue: str | None = None) -> BrokerError:
    """``exc`` from boto3 as the adapter's error: :class:`QueueNotFound` for a missing queue,
    permanent for refusals (credentials, permissions, bad parameters), transient otherwise. The
    message carries the service's code and text, never a credential (boto3 puts none there)."""
    if queue is not None and is_missing(exc):
        return QueueNotFound(queue)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        code = error_code(exc)
        text = str(error.get("Message") or "")[:300]
        if text.lstrip().startswith("<"):  # an HTML error page (moto's 500): its title says enough
            text = "internal error"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        permanent = code in REFUSED_CODES or (isinstance(status, int) and 400 <= status < 500 and status != 429)
        return BrokerError(f"sqs {doing} failed: {code or status}: {text}".rstrip(": "), permanent=permanent)
    if isinstance(exc, BotoCoreError):
        # NoCredentialsError and friends say what is missing, not a secret.
        return BrokerError(f"sqs {doing} failed: {exc}", permanent="credential" in str(exc).lower())
    return BrokerError(f"sqs {doing} failed: {type(exc).__name__}: {exc}")


def queue_name_of(url: str) -> str:
    """The queue's name: the last segment of its URL."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def queue_name_of_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]
