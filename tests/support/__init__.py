"""Helpers shared by the tests: a real, throwaway registry (``registry_server``)."""
