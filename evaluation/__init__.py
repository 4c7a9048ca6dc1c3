"""Does the panels' help work? Impact evaluation at the capacity cut (``vru evaluate``)."""
