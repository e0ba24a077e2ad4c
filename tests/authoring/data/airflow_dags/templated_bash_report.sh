#!/usr/bin/env bash
echo "report for {{ ds }} in {{ params.env }}"
