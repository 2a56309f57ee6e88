"""Events (双告知 / 审管互动): publish, route, deliver and track copies; docs/events.md."""
