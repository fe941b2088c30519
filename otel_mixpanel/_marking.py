"""Mark spans for Mixpanel without spelling the ``mixpanel.*`` attribute names.

``mark_span`` turns the current span into an event with an identity, profile
changes and group keys; ``add_span_event`` records a marked span event.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence, Union

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from ._attribute_keys import EVENT_KEY, GROUP_PREFIX, PEOPLE_PREFIX, UNSET_KEY

Properties = Mapping[str, AttributeValue]
Identity = Union[str, int]


def mixpanel_attributes(
    event: Optional[str] = None,
    distinct_id: Optional[Identity] = None,
    *,
    properties: Optional[Properties] = None,
    set: Optional[Properties] = None,
    set_once: Optional[Properties] = None,
    increment: Optional[Mapping[str, Union[int, float]]] = None,
    append: Optional[Properties] = None,
    union: Optional[Mapping[str, Sequence[Union[str, bool, int, float]]]] = None,
    remove: Optional[Properties] = None,
    unset: Optional[Iterable[str]] = None,
    groups: Optional[Mapping[str, Identity]] = None,
) -> dict[str, AttributeValue]:
    """The span attributes that ask the Mixpanel exporter for what is given.

    ``event`` names the event, ``distinct_id`` sets its identity, ``properties``
    are plain attributes; ``set`` ... ``unset`` become profile updates of that
    identity and ``groups`` maps group keys to group ids. Usable anywhere
    attributes are taken, e.g. ``tracer.start_as_current_span(name,
    attributes=mixpanel_attributes("Signed up", user_id))``.
    """
    attributes: dict[str, AttributeValue] = dict(properties or {})
    if event is not None:
        attributes[EVENT_KEY] = event
    if distinct_id is not None:
        attributes["mixpanel.distinct_id"] = str(distinct_id)
    operations = (
        ("set", set),
        ("set_once", set_once),
        ("increment", increment),
        ("append", append),
        ("union", union),
        ("remove", remove),
    )
    for operation, changes in operations:
        for name, value in (changes or {}).items():
            if isinstance(value, list):
                value = tuple(value)  # noqa: PLW2901 - attributes take tuples
            attributes[f"{PEOPLE_PREFIX}{operation}.{name}"] = value
    if unset is not None:
        attributes[UNSET_KEY] = tuple(unset)
    for group_key, group_id in (groups or {}).items():
        attributes[GROUP_PREFIX + group_key] = group_id
    return attributes


def mark_span(
    event: Optional[str] = None,
    distinct_id: Optional[Identity] = None,
    *,
    span: Optional[trace.Span] = None,
    properties: Optional[Properties] = None,
    set: Optional[Properties] = None,
    set_once: Optional[Properties] = None,
    increment: Optional[Mapping[str, Union[int, float]]] = None,
    append: Optional[Properties] = None,
    union: Optional[Mapping[str, Sequence[Union[str, bool, int, float]]]] = None,
    remove: Optional[Properties] = None,
    unset: Optional[Iterable[str]] = None,
    groups: Optional[Mapping[str, Identity]] = None,
) -> trace.Span:
    """Mark ``span`` (default: the current span) for Mixpanel; return it.

    The span becomes the event ``event`` (keep ``None`` to only add to an
    earlier mark); profile changes are sent with the span even when it is not
    an event. Does nothing on a span that is not recording.
    """
    target = span if span is not None else trace.get_current_span()
    if target.is_recording():
        target.set_attributes(
            mixpanel_attributes(
                event,
                distinct_id,
                properties=properties,
                set=set,
                set_once=set_once,
                increment=increment,
                append=append,
                union=union,
                remove=remove,
                unset=unset,
                groups=groups,
            )
        )
    return target


def add_span_event(
    event: str,
    properties: Optional[Properties] = None,
    *,
    distinct_id: Optional[Identity] = None,
    span: Optional[trace.Span] = None,
    timestamp: Optional[int] = None,
) -> None:
    """Add a span event that becomes the Mixpanel event ``event``.

    It is sent even when its span is not, with the span's identity unless
    ``distinct_id`` is given; ``timestamp`` is in nanoseconds (default: now).
    """
    target = span if span is not None else trace.get_current_span()
    if target.is_recording():
        attributes = mixpanel_attributes(event, distinct_id, properties=properties)
        target.add_event(event, attributes, timestamp)
