# Run `schemaop` with a random kopf peering priority (the chart's peering mode).
# kopf pauses every peer when it sees another one of the same priority, so
# replicas that all start at the default priority would all stand still. With a
# distinct priority each, the highest one works and the others wait; when it
# stops, its keep-alive expires (60 s) and the next one takes over.
import random
import sys

import kopf


@kopf.on.startup()
def _peering_priority(settings: kopf.OperatorSettings, **_: object) -> None:
    settings.peering.priority = random.SystemRandom().randint(1, 2**31 - 1)


from schemaop.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
