"""Motion datasets: preparing the Bandai Namco archive (`prepare`), reading a prepared dataset
(`prepared.PreparedDataset`) or a HumanML3D/KIT-ML folder (`humanml3d.HumanML3DDataset`) through the
same read API (`base.MotionDataset`)."""
