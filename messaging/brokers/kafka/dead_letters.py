"""Which Kafka topic is which topic's dead-letter topic. Pure functions, no I/O.

Precedence, strongest first:
1. headers of the topic's newest record naming the topic it came from (Spring Kafka's
   ``kafka_dlt-original-topic``, Kafka Connect's ``__connect.errors.topic``): what the framework
   really did;
2. configuration (``BrokerConfig.dead_letter_queues``, source -> DLT): the operator's word;
3. names, when the source topic exists: ``<t>.DLT`` and ``<t>-dlt`` (as Spring Kafka names them),
   ``<t>.dlq``, ``dlq.<t>``.
A topic is never its own dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Suffixes and prefixes that make ``<name>`` a dead-letter topic of the topic they wrap.
SUFFIXES = (".DLT", "-dlt", ".dlq")
PREFIXES = ("dlq.",)


def source_by_name(topic: str, existing: Iterable[str] | set[str]) -> str | None:
    """The topic ``topic`` is named as the dead-letter topic of, when that topic exists."""
    names = existing if isinstance(existing, set) else set(existing)
    for suffix in SUFFIXES:
        if topic.endswith(suffix) and len(topic) > len(suffix):
            source = topic[: -len(suffix)]
            if source in names and source != topic:
                return source
    for prefix in PREFIXES:
        if topic.startswith(prefix) and len(topic) > len(prefix):
            source = topic[len(prefix) :]
            if source in names and source != topic:
                return source
    return None


def looks_like_dead_letter_topic(topic: str) -> bool:
    """Named like a dead-letter topic, whether or not its source exists (candidates whose newest
    record is worth reading for the headers that name the source)."""
    return topic.endswith(SUFFIXES) or topic.startswith(PREFIXES)


def dead_letter_topics(
    topics: Iterable[str],
    configured: Mapping[str, str] | None = None,
    origins: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Source topic -> its dead-letter topic.

    ``topics``: the topics that exist; ``configured``: source -> DLT from the configuration;
    ``origins``: DLT -> the source its newest record's headers name. A source named by several
    rules keeps the strongest; sources and DLTs that do not exist are left out.
    """
    names = set(topics)
    mapping: dict[str, str] = {}
    for dlt in sorted(names):
        source = source_by_name(dlt, names)
        if source is not None:
            mapping.setdefault(source, dlt)
    for source, dlt in (configured or {}).items():
        if source in names and dlt in names and source != dlt:
            mapping[source] = dlt
    for dlt, source in sorted((origins or {}).items()):
        if source in names and dlt in names and source != dlt:
            mapping[source] = dlt
    return mapping
