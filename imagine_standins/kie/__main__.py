"""``python -m imagine_standins.kie --port 0 --api-key KEY``: the kie.ai stand-in alone."""

from imagine_standins.kie.server import main

main()
