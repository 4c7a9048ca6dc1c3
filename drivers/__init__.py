"""What drives serious violence here: the partnership's aggregate view (``vru drivers``).

Trends (:mod:`drivers.trends`), pathways against matched young people
(:mod:`drivers.pathways`), what the released models lean on by domain
(:mod:`drivers.contributions`) and where recording itself may drive the picture
(:mod:`drivers.recording`), each a table with no person-level data, protected by
official-statistics disclosure control (:mod:`drivers.disclosure`) before anything is
written (:mod:`drivers.record`). It reads the raw tables and the registry, and never
trains.
"""
