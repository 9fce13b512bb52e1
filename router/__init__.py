"""Routing: the pure policy, queue order, Erlang C figures and the simulator."""
