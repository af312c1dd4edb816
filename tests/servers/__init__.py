"""Real test servers on loopback: moto S3, a GCS emulator, Azurite and a fake Flywheel API."""
