"""The pure core: contracts, policies and the planner. Imports only the standard library and pydantic."""
