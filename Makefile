# The two commands of the README. Both install what they need first.
.PHONY: run test

run:
	.ci/setup run
	.venv/bin/chatd serve --demo

test:
	.ci/setup test
	cd widget && npm test
	.venv/bin/python -m pytest
