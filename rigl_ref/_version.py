"""Single source of the package version."""

#: The version of rigl_ref.
__version__ = "0.1.0"
