"""Events and what hears them: the outbox, signed webhook deliveries, the audit log, unclaimed-task alerts."""
