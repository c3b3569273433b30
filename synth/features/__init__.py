"""Item and user features: text embeddings, profiles and projections for the generators."""
