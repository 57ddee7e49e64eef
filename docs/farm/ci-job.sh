#!/bin/sh
# One CI job of the lab: wait for whichever rig is free, run the HIL suite on
# it, give it back. Needs LG_COORDINATOR (the coordinator's HOST:PORT) and the
# rig config (WiFi and this runner's address for the broker, rig.example.json)
# in RIG_CONFIG; extra arguments go to pytest. docs/farm.md explains it.
set -eu
: "${LG_COORDINATOR:?set LG_COORDINATOR to the coordinator, e.g. labgrid.lab:20408}"
export LG_COORDINATOR
# Reserve any place tagged hil=p1bridge; --wait returns once one is allocated.
reservation=$(labgrid-client reserve --wait --shell hil=p1bridge)
eval "$reservation"  # export LG_TOKEN=...
trap 'labgrid-client cancel-reservation "$LG_TOKEN"' EXIT
labgrid-client -p + show | sed -n 1p  # which rig this job got
# The suite acquires the reserved place (+), runs, and releases it.
pytest --rig labgrid --labgrid-place + ${RIG_CONFIG:+--rig-config "$RIG_CONFIG"} "$@"
