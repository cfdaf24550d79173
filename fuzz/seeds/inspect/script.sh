#!/bin/sh
echo "hello from a kiln fixture (script)"
