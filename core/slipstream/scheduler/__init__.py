"""The scheduler: decides what runs next from serialized DAGs and the store's state."""
