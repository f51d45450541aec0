#!/bin/sh
# The triggering event is at $K_EVENT_PATH, as Knative's JobSink puts it.
set -eu
echo "building $REPO for $(grep -o '"branch": *"[^"]*"' "$K_EVENT_PATH")"
