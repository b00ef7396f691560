"""One column-type decision: the dataset's schema (decided on the full data, editable by people) is what the
engine featurizes, so the dataset page, its profile and a run's featurization summary agree."""
from __future__ import annotations

# Dataset column types -> engine featurization types. Id-like columns are left to the engine, which drops
# them; a column the user typed in the run's own featurization settings keeps that type.
ENGINE_TYPES = {"numeric": "Numeric", "categorical": "Categorical", "boolean": "Categorical",
                "datetime": "DateTime", "text": "Text"}


def with_dataset_types(config: dict, version) -> dict:
    """``config`` with the dataset version's column types as featurization types for every feature column
    the job does not type itself (none when featurization is off, which uses numeric columns as they are)."""
    featurization = dict(config.get("featurization") or {})
    if version is None or featurization.get("mode", "auto") == "off":
        return config
    skip = {config.get("target_column_name"), config.get("weight_column_name")}
    types = {c["name"]: ENGINE_TYPES[c["type"]] for c in version.included_columns()
             if c.get("type") in ENGINE_TYPES and c["name"] not in skip}
    featurization["column_name_and_types"] = {**types, **(featurization.get("column_name_and_types") or {})}
    return {**config, "featurization": featurization}
