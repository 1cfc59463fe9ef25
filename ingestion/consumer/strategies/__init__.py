"""One processing step per module: decode → validate → batch → enrich → insert → commit."""
