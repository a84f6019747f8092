"""Exporters: augsearch policies as other libraries\x27 transforms."""
