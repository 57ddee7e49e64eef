VBOARD_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(VBOARD_MOD_DIR)/modvboard.c
SRC_USERMOD_C += $(VBOARD_MOD_DIR)/vboard_clock.c
SRC_USERMOD_C += $(VBOARD_MOD_DIR)/vboard_lwip.c
SRC_USERMOD_C += $(VBOARD_MOD_DIR)/vboard_timer.c
