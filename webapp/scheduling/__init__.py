"""The scheduling core: cron engine, schedule rules, catch-up, firing, tasks and the timer; no request objects."""
