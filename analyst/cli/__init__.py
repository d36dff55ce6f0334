"""The analyst's commands of the `regiozicht` CLI."""
