"""REST API (`/api/v1`): FastAPI app factory in `app.py`, one router module per resource."""
