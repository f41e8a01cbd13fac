# office
