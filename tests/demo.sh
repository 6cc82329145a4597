#!/usr/bin/env bash
echo "make demo: not yet — the client (deed) and dns-persist-01 land in later issues."
