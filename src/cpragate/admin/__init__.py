"""The admin side: Prometheus metrics, the admin API (sans-IO handlers), admin keys and
roles, tracing, and the dashboard's static files (``web/``); served by server/admin.py."""
