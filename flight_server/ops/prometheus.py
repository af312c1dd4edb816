"""The scrape: the server's metrics in one prometheus-client registry, encoded as asked.

Each ops server has its own ``CollectorRegistry``, never the library's global one, so
several servers in one process (as in the tests) keep their series apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """A value read from the server's state when scraped, so it is never stale.

    With ``label``, ``read`` returns ``{label value: value}`` (one sample per entry).
    """

    name: str
    help_text: str
    read: Callable[[], float] | Callable[[], Mapping[str, float]]
    kind: str = "gauge"  # or "counter": a total something else keeps
    label: str | None = None

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        """The metric without samples: what the registry describes."""
        kind = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        return kind(self.name, self.help_text, labels=[self.label] if self.label else None)


class Readings(Collector):
    """Readings taken at scrape time; one that cannot be read is left out and logged."""

    def __init__(self, readings: Iterable[Reading]) -> None:
        self._readings = tuple(readings)

    def describe(self) -> Iterator[Metric]:
        # Lets the registry refuse a name registered twice.
        return (reading.family() for reading in self._readings)

    def collect(self) -> Iterator[Metric]:
        for reading in self._readings:
            family = reading.family()
            try:
                value = reading.read()
            except Exception as exc:  # one unreadable reading must not cost the whole scrape
                log.warning("metric %s unreadable: %s", reading.name, type(exc).__name__)
                yield family
                continue
            if isinstance(value, Mapping):
                for label_value, sample in sorted(value.items()):
                    family.add_metric([label_value], sample)
            else:
                family.add_metric([], value)
            yield family


def registry(collectors: Iterable[Collector]) -> CollectorRegistry:
    """A registry of ``collectors`` and this process's CPU, memory and file descriptors."""
    metrics = CollectorRegistry()
    for collector in collectors:
        metrics.register(collector)
    ProcessCollector(registry=metrics)
    return metrics


def exposition(metrics: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """The scrape's body and content type: OpenMetrics when ``accept`` asks for it."""
    encode, content_type = choose_encoder(accept)
    return encode(metrics), content_type
