"""``python -m tests.fakes.kie --port 0 --api-key KEY``: run the kie.ai stand-in as a process."""

from tests.fakes.kie.server import main

main()
