"""Parses a /metrics answer (stdin) with the Prometheus project's own parsers and prints its
families as JSON: {name: {"type", "unit", "samples": [[name, labels, value], ...]}}.
`openmetrics` as the first argument uses the (strict) OpenMetrics parser instead of the
Prometheus text-format one. Used by tests/metrics.rs."""
import json
import math
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

parse = openmetrics_families if sys.argv[1:] == ["openmetrics"] else text_families
families = {}
for family in parse(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "unit": family.unit,
        "samples": [
            [s.name, s.labels, s.value if math.isfinite(s.value) else str(s.value)]
            for s in family.samples
        ],
    }
print(json.dumps(families))
