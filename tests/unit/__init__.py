"""Fast tests of pure logic, one folder per layer of flight_server; no servers start."""
